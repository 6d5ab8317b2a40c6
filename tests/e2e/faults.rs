//! A driver that loops, exhausts its memory or panics gets a clean error naming it and
//! the call; the host and the other drivers keep working; the driver is re-created
//! and finds its kv state.

use std::sync::atomic::Ordering;

use wnet_core::{DriverError, EndpointOptions, Error, Fault, NetworkOptions};
use wnet_runtime::LoadedDriver;
use wnet_tests::{FIXTURE_HOSTILE, Host};
use wnet_types::Options;

fn hostile(call: &str, how: &str) -> Options {
    [(format!("hostile.{call}"), how.to_owned())]
        .into_iter()
        .collect()
}

fn fault(err: &Error) -> &Fault {
    match err {
        Error::Driver {
            source: DriverError::Fault(f),
            driver,
            ..
        } if driver == "hostile" => f,
        other => panic!("expected a fault of the hostile driver, got: {other}"),
    }
}

/// A host with the hostile fixture loaded, and the fixture's driver for its counters.
async fn hostile_host() -> (Host, std::sync::Arc<wnet_runtime::WasmNetworkDriver>) {
    let host = Host::new().await;
    let LoadedDriver::Network(driver) = host.load(FIXTURE_HOSTILE).await else {
        panic!("a network driver");
    };
    (host, driver)
}

/// A network of the hostile driver and a sandbox to join.
async fn network_and_sandbox(host: &Host) -> (wnet_core::Network, wnet_core::Sandbox) {
    let net = host
        .controller
        .new_network("hostile", "n", NetworkOptions::default())
        .await
        .unwrap();
    let sandbox = host
        .controller
        .new_sandbox("s", wnet_core::SandboxOptions::default())
        .await
        .unwrap();
    (net, sandbox)
}

async fn others_still_work(host: &Host, name: &str) {
    let net = host
        .controller
        .new_network("null", name, NetworkOptions::default())
        .await
        .unwrap();
    net.create_endpoint("ep", EndpointOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn loops_exhaustion_and_panics_end_in_clean_errors() {
    let (host, driver) = hostile_host().await;
    // A network the driver knows (kept in its kv) before it starts misbehaving.
    let net = host
        .controller
        .new_network("hostile", "kept", NetworkOptions::default())
        .await
        .unwrap();

    type Expect = fn(&Fault) -> bool;
    let cases: [(&str, Expect); 4] = [
        ("loop", |f| matches!(f, Fault::Deadline { .. })),
        // Blocked in the host (a WASI clock), where no epoch is counted.
        ("sleep", |f| matches!(f, Fault::Deadline { .. })),
        ("alloc", |f| matches!(f, Fault::OutOfMemory { .. })),
        (
            "panic",
            |f| matches!(f, Fault::Trap { message } if message.contains("panics in create-endpoint on purpose")),
        ),
    ];
    for (i, (how, expected)) in cases.into_iter().enumerate() {
        let before = driver.stats().instances.load(Ordering::Relaxed);
        let opts = EndpointOptions {
            options: hostile("create-endpoint", how),
            ..Default::default()
        };
        let err = net
            .create_endpoint(&format!("bad{i}"), opts)
            .await
            .unwrap_err();
        let f = fault(&err);
        assert!(expected(f), "{how}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("`hostile`") && msg.contains("create-endpoint"),
            "{how}: {msg}"
        );
        assert!(
            net.endpoints().unwrap().is_empty(),
            "{how}: no endpoint record"
        );

        // The host and the other drivers are unharmed.
        others_still_work(&host, &format!("other{i}")).await;

        // The driver is re-created from its kv: it still knows the network.
        let ep = net
            .create_endpoint(&format!("good{i}"), EndpointOptions::default())
            .await
            .unwrap();
        assert_eq!(
            driver.stats().instances.load(Ordering::Relaxed),
            before + 1,
            "{how}: one new instance"
        );
        ep.delete(false).await.unwrap();
    }
    assert_eq!(driver.stats().faults.load(Ordering::Relaxed), 4);
    // Every address of the failed endpoints went back to the pool.
    let again = net
        .create_endpoint("last", EndpointOptions::default())
        .await
        .unwrap();
    assert_eq!(crate::v4(&again), "172.17.0.2/16");
}

#[tokio::test]
async fn a_fault_while_creating_a_network_rolls_it_back() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let opts = NetworkOptions {
        options: hostile("create-network", "loop"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "spin", opts)
        .await
        .unwrap_err();
    assert!(matches!(fault(&err), Fault::Deadline { .. }), "{err}");
    assert!(
        err.to_string().contains("200ms"),
        "names the deadline: {err}"
    );
    assert!(host.controller.networks().is_empty());
    assert!(
        host.kv_keys("default").is_empty(),
        "pool released: {:?}",
        host.kv_keys("default")
    );
}

#[tokio::test]
async fn wasi_lends_no_environment_arguments_files_or_sockets() {
    let host = Host::new().await;
    host.load(FIXTURE_HOSTILE).await;
    let opts = NetworkOptions {
        options: hostile("create-network", "snoop"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "snoop", opts)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("env=0 args=0 fs=false tcp=false"),
        "{err}"
    );
}

/// Answers too large to use are refused before anything uses them, with the driver,
/// the call and the limit named; the join is rolled back; an overlong error message
/// arrives cut, not refused.
#[tokio::test]
async fn oversized_answers_are_refused_and_long_errors_cut() {
    let (host, driver) = hostile_host().await;
    let (net, sandbox) = network_and_sandbox(&host).await;
    for (i, (how, what, size)) in [
        ("huge-routes", "static-routes (entries)", "10000"),
        ("huge-name", "interface-name src-name (bytes)", "1048578"),
    ]
    .into_iter()
    .enumerate()
    {
        let ep = net
            .create_endpoint(
                &format!("e{i}"),
                EndpointOptions {
                    options: hostile("join", how),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let err = ep.join(&sandbox, Default::default()).await.unwrap_err();
        assert!(
            matches!(fault(&err), Fault::Oversized { .. }),
            "{how}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("`hostile`")
                && msg.contains("join")
                && msg.contains(what)
                && msg.contains(size)
                && msg.contains("limit 1024") == (how == "huge-routes"),
            "{how}: {msg}"
        );
        assert!(ep.info().unwrap().join.is_none(), "{how}: not joined");
        assert!(
            !host
                .kv_keys("hostile")
                .iter()
                .any(|k| k.starts_with("joined/")),
            "{how}: the driver was told to leave: {:?}",
            host.kv_keys("hostile")
        );
        ep.delete(false).await.unwrap();
    }
    assert_eq!(driver.stats().faults.load(Ordering::Relaxed), 2);

    let opts = NetworkOptions {
        options: hostile("create-network", "long-error"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "loud", opts)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("fails create-network at length") && msg.contains("more bytes cut by wnet"),
        "{}",
        &msg[..msg.len().min(300)]
    );
    assert!(
        msg.len() < 70_000,
        "cut to about 64 KiB: {} bytes",
        msg.len()
    );
    assert_eq!(host.controller.networks().len(), 1, "only `n`");
}

/// A driver that fails call after call pauses longer and longer before each new
/// instance, then is quarantined: its calls fail at once, naming the way out, while the
/// other drivers work; enabled again, it runs.
#[tokio::test]
async fn a_driver_failing_in_a_row_backs_off_then_is_quarantined_until_enabled() {
    let (host, driver) = hostile_host().await;
    let net = host
        .controller
        .new_network("hostile", "n", NetworkOptions::default())
        .await
        .unwrap();
    let panics = || EndpointOptions {
        options: hostile("create-endpoint", "panic"),
        ..Default::default()
    };
    for i in 1..=wnet_runtime::QUARANTINE_AFTER {
        // Wait out the pause the last failure started.
        while matches!(
            driver.status().state,
            wnet_runtime::State::BackingOff { .. }
        ) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let err = net
            .create_endpoint(&format!("p{i}"), panics())
            .await
            .unwrap_err();
        assert!(matches!(fault(&err), Fault::Trap { .. }), "{i}: {err}");
        if i == 2 {
            // Straight after the second failure in a row, the driver is not run.
            let err = net
                .create_endpoint("hasty", EndpointOptions::default())
                .await
                .unwrap_err();
            assert!(
                matches!(fault(&err), Fault::BackingOff { faults: 2, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("after a pause"), "{err}");
        }
    }
    assert_eq!(
        driver.status().state,
        wnet_runtime::State::Quarantined {
            faults: wnet_runtime::QUARANTINE_AFTER
        }
    );
    let calls = driver.stats().calls.load(Ordering::Relaxed);
    let err = net
        .create_endpoint("good", EndpointOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(fault(&err), Fault::Quarantined { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`hostile`")
            && msg.contains("wnet driver enable hostile")
            && msg.contains("panics in create-endpoint on purpose"),
        "names the driver, the way out and the last failure: {msg}"
    );
    assert_eq!(
        driver.stats().calls.load(Ordering::Relaxed),
        calls,
        "the quarantined driver was not run"
    );
    assert!(driver.stats().refused_calls.load(Ordering::Relaxed) >= 2);
    assert!(
        driver
            .status()
            .last_error
            .is_some_and(|e| e.contains("on purpose"))
    );
    assert!(net.endpoints().unwrap().is_empty());
    others_still_work(&host, "other").await;

    let down = net.unavailable_drivers().unwrap();
    assert!(
        matches!(down.as_slice(), [(d, why)] if d == "hostile" && why.contains("quarantined")),
        "its network reports the driver unavailable: {down:?}"
    );

    assert!(driver.enable(), "it was quarantined");
    assert_eq!(driver.status().state, wnet_runtime::State::Ok);
    assert!(net.unavailable_drivers().unwrap().is_empty());
    net.create_endpoint("good", EndpointOptions::default())
        .await
        .unwrap();
}

/// A driver call that makes too many host calls traps with the limit named; log lines
/// past the rate are dropped and counted, and the call itself goes on.
#[tokio::test]
async fn host_call_and_log_floods_are_cut_off() {
    let (host, driver) = hostile_host().await;
    let opts = NetworkOptions {
        options: hostile("create-network", "host-calls"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "busy", opts)
        .await
        .unwrap_err();
    assert!(
        matches!(fault(&err), Fault::HostCalls { limit: 4096 }),
        "{err}"
    );
    assert!(err.to_string().contains("limits.host-calls"), "{err}");
    assert!(host.controller.networks().is_empty(), "rolled back");

    let opts = NetworkOptions {
        options: hostile("create-network", "log-spam"),
        ..NetworkOptions::default()
    };
    host.controller
        .new_network("hostile", "loud", opts)
        .await
        .unwrap();
    // 2000 lines in well under a second against a limit of 1000 a second.
    let dropped = driver.status().log_lines_dropped;
    assert!(
        (500..=1500).contains(&dropped),
        "about 1000 of 2000 lines dropped: {dropped}"
    );
}

/// A panic in each driver call the hostile fixture can fail: a trap naming the driver,
/// the call and the panic; nothing half-done left on record; the driver runs again.
#[tokio::test]
async fn a_panic_in_each_driver_call_is_a_clean_error() {
    let (host, driver) = hostile_host().await;
    let panics_in = |call: &str, err: &Error| {
        assert!(
            matches!(fault(err), Fault::Trap { message } if message.contains(&format!("panics in {call} on purpose"))),
            "{call}: {err}"
        );
        assert!(
            err.to_string().contains(call),
            "{call}: names the call: {err}"
        );
    };

    let opts = NetworkOptions {
        options: hostile("create-network", "panic"),
        ..NetworkOptions::default()
    };
    let err = host
        .controller
        .new_network("hostile", "p", opts)
        .await
        .unwrap_err();
    panics_in("create-network", &err);
    assert!(host.controller.networks().is_empty());

    let (net, sandbox) = network_and_sandbox(&host).await;
    for call in ["create-endpoint", "join", "program-external-connectivity"] {
        let made = net
            .create_endpoint(
                call,
                EndpointOptions {
                    options: hostile(call, "panic"),
                    ..Default::default()
                },
            )
            .await;
        let err = match made {
            Err(err) => err,
            Ok(ep) => {
                let err = ep.join(&sandbox, Default::default()).await.unwrap_err();
                assert!(ep.info().unwrap().join.is_none(), "{call}: not joined");
                ep.delete(false).await.unwrap();
                err
            }
        };
        panics_in(call, &err);
        assert!(
            net.endpoints().unwrap().is_empty(),
            "{call}: no endpoint left"
        );
    }

    // A panic while deleting: the endpoint stays (the driver may still hold it) until
    // a forced delete, which removes it whatever the driver says.
    let ep = net
        .create_endpoint(
            "d",
            EndpointOptions {
                options: hostile("delete-endpoint", "panic"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = ep.delete(false).await.unwrap_err();
    panics_in("delete-endpoint", &err);
    assert_eq!(
        net.endpoints().unwrap().len(),
        1,
        "kept after a failed delete"
    );
    ep.delete(true).await.unwrap();
    assert!(net.endpoints().unwrap().is_empty());

    // The forced delete's call panicked too: two failures in a row, so the driver
    // pauses before it runs again; then it does.
    assert!(
        matches!(
            driver.status().state,
            wnet_runtime::State::BackingOff { faults: 2, .. }
        ),
        "{:?}",
        driver.status().state
    );
    while driver.status().state != wnet_runtime::State::Ok {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    net.create_endpoint("fine", EndpointOptions::default())
        .await
        .unwrap();
}

/// A driver's calls in one operation share its operation time: a join whose calls are
/// each within their deadline but together over it is stopped, named and rolled back,
/// and the undo (leave) still runs; the next operation has its own time.
#[tokio::test]
async fn a_driver_slow_across_one_operation_is_stopped_and_rolled_back() {
    let host = Host::new().await;
    let mut manifest = FIXTURE_HOSTILE.manifest();
    manifest.limits.operation_timeout_ms = Some(250);
    let driver = host
        .runtime
        .load(FIXTURE_HOSTILE.wasm, manifest)
        .await
        .unwrap();
    driver.register(&host.controller).unwrap();
    let LoadedDriver::Network(driver) = driver else {
        panic!("a network driver");
    };
    let (net, sandbox) = network_and_sandbox(&host).await;
    // Each call 150 ms, its deadline 200 ms; two of them 300 ms, over the 250 ms.
    let slow: Options = [
        ("hostile.join", "slow"),
        ("hostile.program-external-connectivity", "slow"),
    ]
    .into_iter()
    .collect();
    let ep = net
        .create_endpoint(
            "e",
            EndpointOptions {
                options: slow,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let err = ep.join(&sandbox, Default::default()).await.unwrap_err();
    assert!(
        matches!(fault(&err), Fault::OperationDeadline { limit } if limit.as_millis() == 250),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`hostile`")
            && msg.contains("program-external-connectivity")
            && msg.contains("operation-timeout-ms"),
        "{msg}"
    );
    assert!(ep.info().unwrap().join.is_none(), "not joined");
    assert!(
        !host
            .kv_keys("hostile")
            .iter()
            .any(|k| k.starts_with("joined/") || k.starts_with("external/")),
        "the driver was told to leave, past its operation time: {:?}",
        host.kv_keys("hostile")
    );
    // One slow call per operation is within the time.
    net.create_endpoint(
        "one",
        EndpointOptions {
            options: hostile("join", "slow"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .join(&sandbox, Default::default())
    .await
    .unwrap();
    assert_eq!(driver.status().state, wnet_runtime::State::Ok);
}

/// An IPAM driver's wrong answers — a pool of the other family or another subnet, an
/// address outside its pool or not the one asked for, a meta map of 5000 entries,
/// a panic — each fail the network's creation with the driver and the reason named,
/// and everything it handed out is given back: its own books end empty.
#[tokio::test]
async fn a_hostile_ipam_is_refused_and_everything_it_handed_out_released() {
    let host = Host::new().await;
    let LoadedDriver::Ipam(ipam) = host.load(wnet_tests::FIXTURE_HOSTILE_IPAM).await else {
        panic!("an IPAM driver");
    };
    let held = || -> Vec<String> {
        host.kv_keys("hostile-ipam")
            .into_iter()
            .filter(|k| k.starts_with("pool/") || k.starts_with("addr/"))
            .collect()
    };
    let subnet = wnet_core::IpamConfig::subnet("10.1.0.0/24".parse().unwrap());
    let with_gateway = wnet_core::IpamConfig {
        gateway: Some("10.1.0.1".parse().unwrap()),
        ..subnet.clone()
    };
    let cases = [
        (
            "request-pool",
            "wrong-family",
            None,
            "asked for an IPv4 pool, got fd99::/64",
        ),
        (
            "request-pool",
            "other-subnet",
            Some(subnet.clone()),
            "got 10.98.0.0/24",
        ),
        (
            "request-pool",
            "huge-meta",
            None,
            "pool meta (entries) is 5000",
        ),
        (
            "request-pool",
            "panic",
            None,
            "panics in request-pool on purpose",
        ),
        (
            "request-address",
            "outside",
            None,
            "address 192.0.2.7 is outside pool",
        ),
        (
            "request-address",
            "not-preferred",
            Some(with_gateway),
            "asked for 10.1.0.1, got 10.1.0.200",
        ),
        (
            "request-address",
            "huge-meta",
            None,
            "address meta (entries) is 5000",
        ),
        (
            "request-address",
            "panic",
            None,
            "panics in request-address on purpose",
        ),
    ];
    for (i, (call, how, conf, reason)) in cases.into_iter().enumerate() {
        let opts = NetworkOptions {
            ipam_driver: Some("hostile-ipam".into()),
            ipam_options: hostile(call, how),
            ipv4: conf.into_iter().collect(),
            ..NetworkOptions::default()
        };
        let err = host
            .controller
            .new_network("null", &format!("n{i}"), opts)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("hostile-ipam") && msg.contains(call) && msg.contains(reason),
            "{call}={how}: {msg}"
        );
        assert!(host.controller.networks().is_empty(), "{call}={how}");
        assert_eq!(held(), Vec::<String>::new(), "{call}={how}: given back");
        // No pause after failures in a row: the next case runs at once.
        ipam.enable();
    }
    // Behaving, it serves a network, and gets everything back when it goes.
    let net = host
        .controller
        .new_network(
            "null",
            "good",
            NetworkOptions {
                ipam_driver: Some("hostile-ipam".into()),
                ..NetworkOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(held().len(), 2, "a pool and its gateway: {:?}", held());
    net.delete().await.unwrap();
    assert_eq!(held(), Vec::<String>::new());
}

/// A process about to exit stops its runtime's clock (`Runtime::stop_clock`), so that
/// the clock's thread is gone before the exit: it ends even while a call keeps it
/// ticking, and the call runs to its own end.
// Two workers: the call's and the test's, which stops the clock while the call runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_clock_ends_its_thread_while_a_call_runs() {
    use std::sync::Arc;
    use std::time::Duration;
    use wnet_runtime::{EngineParts, Runtime, RuntimeConfig};

    // The clock on a thread of the test's, as a one-shot `wnet` runs it.
    let (parts_tx, parts_rx) = std::sync::mpsc::channel();
    let (ended_tx, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut parts = EngineParts::new().unwrap();
        let clock = parts.clock_here();
        parts_tx.send(parts).unwrap();
        clock.run();
        let _ = ended_tx.send(());
    });
    let store: Arc<dyn wnet_core::Store> = Arc::new(wnet_core::MemoryStore::new());
    let runtime = Runtime::with_engine(
        parts_rx.recv().unwrap(),
        RuntimeConfig {
            cache_dir: Some(wnet_tests::cache_dir()),
            store: store.clone(),
            ..RuntimeConfig::default()
        },
    )
    .unwrap();
    let controller = wnet_core::Controller::new(wnet_core::Config {
        store,
        ..wnet_core::Config::default()
    })
    .unwrap();
    for d in wnet_drivers::load_all(&runtime).await.unwrap() {
        d.register(&controller).unwrap();
    }
    runtime
        .load(FIXTURE_HOSTILE.wasm, FIXTURE_HOSTILE.manifest())
        .await
        .unwrap()
        .register(&controller)
        .unwrap();
    // 150 ms of work in the driver, within its 200 ms deadline.
    let call = tokio::spawn({
        let controller = controller.clone();
        async move {
            let opts = NetworkOptions {
                options: hostile("create-network", "slow"),
                ..NetworkOptions::default()
            };
            controller.new_network("hostile", "slow", opts).await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    runtime.stop_clock();
    assert!(
        ended.recv_timeout(Duration::from_secs(30)).is_ok(),
        "the clock's thread ended"
    );
    call.await.unwrap().unwrap();
}
