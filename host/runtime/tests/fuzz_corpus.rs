//! Replays the fuzz seeds (`fuzz/seeds/<target>/`: the real manifests, and every
//! finding once fixed) against the properties the fuzz targets check, so that a finding
//! stays fixed. The open-ended fuzzing is `scripts/fuzz.sh`.
#![allow(clippy::unwrap_used, missing_docs, reason = "a test")]

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{}: the property fails", path.display());
        n += 1;
    }
    n
}

#[test]
fn the_manifest_corpus_holds() {
    assert!(replay("manifest", wnet_runtime::fuzzing::manifest) >= 8);
}

#[test]
fn the_sysctl_corpus_holds() {
    assert!(replay("sysctl", wnet_runtime::fuzzing::sysctl) >= 3);
}

#[test]
fn the_host_args_corpus_holds() {
    assert!(replay("host_args", wnet_runtime::fuzzing::host_args) >= 5);
}

#[test]
fn the_join_answer_corpus_holds() {
    assert!(replay("join_answer", wnet_runtime::fuzzing::join_answer) >= 3);
}
